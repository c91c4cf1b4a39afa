package catalogue

import (
	"cmp"
	"errors"
	"maps"
	"slices"
	"strings"
)

// Queue tags are key/value labels on a queue, kept in the catalogue beside
// the queue's record (queueRecord.Tags) and written by the catalogue command
// OpQueueTags. A record without tags encodes as before, so catalogue
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

// Tag actions of OpQueueTags.
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

// OpQueueTags creates or deletes tags of a queue. Appended to the catalogue
// ops; its value is part of the log format.
const OpQueueTags Op = "queue_tags"

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

func (c *Command) validateQueueTags() error {
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

// applyQueueTags applies OpQueueTags to the catalogue state.
func applyQueueTags(st *catalogueState, cmd *Command) Result {
	r, ok := st.Queues[cmd.QueueID]
	if !ok || r.Queue.Project != cmd.Project {
		return Result{Err: ErrQueueNotFound}
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
		return Result{Err: ErrTagQuota}
	}
	slices.SortFunc(tags, func(a, b QueueTag) int { return cmp.Compare(a.Key, b.Key) })
	if len(tags) == 0 {
		tags = nil
	}
	r.Tags = tags
	return Result{}
}

// QueueTags returns a queue's tags sorted by key; false when the queue is
// not one of project's.
func (c *Catalogue) QueueTags(project, queueID string) ([]QueueTag, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	r, ok := c.st.Queues[queueID]
	if !ok || r.Queue.Project != project {
		return nil, false
	}
	return slices.Clone(r.Tags), true
}

// ProjectTags returns every tag key used by the project's queues, sorted,
// each with its values.
func (c *Catalogue) ProjectTags(project string) []TagValues {
	c.mu.RLock()
	defer c.mu.RUnlock()
	byKey := map[string][]string{}
	for _, r := range c.st.Queues {
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
	return out
}
