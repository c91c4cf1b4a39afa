package cluster

import (
	"context"

	"raftmq/cluster/catalogue"
)

// SetQueueTags creates or deletes tags of a queue (action TagActionCreate
// or TagActionDelete); httpapi has validated the tags.
func (n *Node) SetQueueTags(ctx context.Context, project, queueID, action string, tags []QueueTag) error {
	_, err := n.proposeMeta(ctx, &catalogue.Command{Op: catalogue.OpQueueTags, Project: project, QueueID: queueID, Action: action, Tags: tags, Limit: MaxTagsPerQueue})
	return err
}

// QueueTags returns a queue's tags sorted by key, as the metadata leader
// has them (this node catches up first, so a tag just set through another
// node is seen).
func (n *Node) QueueTags(ctx context.Context, project, queueID string) ([]QueueTag, error) {
	if err := n.syncCatalogue(ctx); err != nil {
		return nil, err
	}
	tags, ok := n.cat.QueueTags(project, queueID)
	if !ok {
		return nil, ErrQueueNotFound
	}
	return tags, nil
}

// ProjectTags returns every tag key used by the project's queues, sorted,
// each with its values.
func (n *Node) ProjectTags(ctx context.Context, project string) ([]TagValues, error) {
	if err := n.syncCatalogue(ctx); err != nil {
		return nil, err
	}
	return n.cat.ProjectTags(project), nil
}
