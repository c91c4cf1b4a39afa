package cluster

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
)

// Queue tags are key/value labels on a queue, kept in the catalogue beside
// the queue's record (queueRecord.Tags) and written by the catalogue command
// opQueueTags. A record without tags encodes as before, so catalogue
// snapshots written before tags existed restore unchanged.

// QueueTag is one tag of a queue.
type QueueTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// TagValues is one tag key of a project with every value its queues use.
type TagValues struct {
	Key    string
	Values []string // sorted, unique
}

// Tag actions of opQueueTags.
const (
	TagActionCreate = "create" // add the tags; an existing key takes the new value
	TagActionDelete = "delete" // remove the keys (absent ones are ignored)
)

// Limits on tags, checked by httpapi and again by validate.
const (
	MaxTagsPerQueue = 20
	MaxTagKeyLen    = 128
	MaxTagValueLen  = 255
)

// opQueueTags creates or deletes tags of a queue. Appended to the catalogue
// ops; its value is part of the log format.
const opQueueTags metaOp = "queue_tags"

// ErrTagQuota is returned when a create would leave a queue with more than
// MaxTagsPerQueue tags.
var ErrTagQuota = errors.New("cluster: too many tags")

// ValidTag reports why a tag is not acceptable, "" when it is: a key of 1 to
// MaxTagKeyLen characters and a value of 0 to MaxTagValueLen, both of
// letters, digits, spaces and _.:=+-@, without a space at either end. A
// delete may give an empty value.
func ValidTag(t QueueTag) string {
	switch {
	case t.Key == "" || len(t.Key) > MaxTagKeyLen:
		return "a tag key has 1 to 128 characters"
	case len(t.Value) > MaxTagValueLen:
		return "a tag value has at most 255 characters"
	case !tagText(t.Key) || !tagText(t.Value):
		return "tags may hold letters, digits, spaces and _.:=+-@, and no space at either end"
	}
	return ""
}

func tagText(s string) bool {
	if strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(" _.:=+-@", r)
		if !ok {
			return false
		}
	}
	return true
}

func (c *metaCommand) validateQueueTags() error {
	if err := c.validateQueueRef(); err != nil {
		return err
	}
	if c.Action != TagActionCreate && c.Action != TagActionDelete {
		return invalid(c.Op, "action %q", c.Action)
	}
	if len(c.Tags) == 0 || len(c.Tags) > MaxTagsPerQueue {
		return invalid(c.Op, "%d tags", len(c.Tags))
	}
	for i, t := range c.Tags {
		if why := ValidTag(t); why != "" {
			return invalid(c.Op, "%s", why)
		}
		if slices.ContainsFunc(c.Tags[:i], func(o QueueTag) bool { return o.Key == t.Key }) {
			return invalid(c.Op, "tag key %q twice", t.Key)
		}
	}
	return nil
}

// applyQueueTags applies opQueueTags to the catalogue state.
func applyQueueTags(st *catalogueState, cmd *metaCommand) metaResult {
	r, ok := st.Queues[cmd.QueueID]
	if !ok || r.Queue.Project != cmd.Project {
		return metaResult{Err: ErrQueueNotFound}
	}
	tags := slices.Clone(r.Tags)
	for _, t := range cmd.Tags {
		i := slices.IndexFunc(tags, func(o QueueTag) bool { return o.Key == t.Key })
		switch {
		case cmd.Action == TagActionDelete && i >= 0:
			tags = slices.Delete(tags, i, i+1)
		case cmd.Action == TagActionCreate && i >= 0:
			tags[i].Value = t.Value
		case cmd.Action == TagActionCreate:
			tags = append(tags, t)
		}
	}
	if len(tags) > cmd.Limit {
		return metaResult{Err: ErrTagQuota}
	}
	slices.SortFunc(tags, func(a, b QueueTag) int { return cmp.Compare(a.Key, b.Key) })
	if len(tags) == 0 {
		tags = nil
	}
	r.Tags = tags
	return metaResult{}
}

// SetQueueTags creates or deletes tags of a queue (action TagActionCreate
// or TagActionDelete); httpapi has validated the tags.
func (n *Node) SetQueueTags(ctx context.Context, project, queueID, action string, tags []QueueTag) error {
	_, err := n.proposeMeta(ctx, &metaCommand{Op: opQueueTags, Project: project, QueueID: queueID, Action: action, Tags: tags, Limit: MaxTagsPerQueue})
	return err
}

// QueueTags returns a queue's tags sorted by key, as the metadata leader
// has them (this node catches up first, so a tag just set through another
// node is seen).
func (n *Node) QueueTags(ctx context.Context, project, queueID string) ([]QueueTag, error) {
	if err := n.syncCatalogue(ctx); err != nil {
		return nil, err
	}
	n.cat.mu.RLock()
	defer n.cat.mu.RUnlock()
	r, ok := n.cat.st.Queues[queueID]
	if !ok || r.Queue.Project != project {
		return nil, ErrQueueNotFound
	}
	return slices.Clone(r.Tags), nil
}

// ProjectTags returns every tag key used by the project's queues, sorted,
// each with its values.
func (n *Node) ProjectTags(ctx context.Context, project string) ([]TagValues, error) {
	if err := n.syncCatalogue(ctx); err != nil {
		return nil, err
	}
	n.cat.mu.RLock()
	defer n.cat.mu.RUnlock()
	byKey := map[string][]string{}
	for _, r := range n.cat.st.Queues {
		if r.Queue.Project != project {
			continue
		}
		for _, t := range r.Tags {
			byKey[t.Key] = append(byKey[t.Key], t.Value)
		}
	}
	out := make([]TagValues, 0, len(byKey))
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		vs := byKey[k]
		slices.Sort(vs)
		out = append(out, TagValues{Key: k, Values: slices.Compact(vs)})
	}
	return out, nil
}
