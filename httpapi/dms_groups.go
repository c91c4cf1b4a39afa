package httpapi

import (
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"

	"raftmq/cluster"
)

// parseGroupNames validates a create-groups body, {"groups":[{"name":"g1"},
// ...]}: 1 to maxGroupsPerRequest entries (our decision; the group quota is
// lower anyway), each an object with a valid name. The same name twice in
// one request is 10240018, as if the first had been created.
func parseGroupNames(body []byte) ([]string, error) {
	o, err := parseObject(body)
	if err != nil {
		return nil, err
	}
	elems, err := o.arrayField("groups", 1, maxGroupsPerRequest)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(elems))
	seen := make(map[string]bool, len(elems))
	for i, e := range elems {
		g, err := elementObject(e, "groups", i)
		if err != nil {
			return nil, err
		}
		name, _, err := g.stringField("name")
		if err != nil {
			return nil, err
		}
		if err := checkGroupName(name); err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, badRequest(codeGroupExists, "consumer group name %s given twice", name)
		}
		seen[name] = true
		names = append(names, name)
	}
	return names, nil
}

func (s *Server) createGroups(rc *fasthttp.RequestCtx, p pathParams) error {
	names, err := parseGroupNames(rc.PostBody())
	if err != nil {
		return err
	}
	if _, ok := parseUUID(p.queue); !ok {
		return errQueueNotFound
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	gs, err := s.broker.CreateGroups(ctx, p.project, p.queue, names)
	if err != nil {
		return err
	}
	type groupJSON struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	out := struct {
		Groups []groupJSON `json:"groups"`
	}{Groups: make([]groupJSON, 0, len(gs))}
	for _, g := range gs {
		out.Groups = append(out.Groups, groupJSON{g.ID, g.Name})
	}
	s.writeJSON(rc, fasthttp.StatusCreated, out)
	return nil
}

// groupStatsJSON is one group of the group listing.
type groupStatsJSON struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	ProducedMessages     int64  `json:"produced_messages"`
	ConsumedMessages     int64  `json:"consumed_messages"`
	AvailableMessages    int64  `json:"available_messages"`
	ProducedDeadletters  *int64 `json:"produced_deadletters,omitempty"`
	AvailableDeadletters *int64 `json:"available_deadletters,omitempty"`
}

// groupListJSON is the group listing. redrive_policy is the queue's, so it
// is given once, beside the groups, as DMS does.
type groupListJSON struct {
	QueueID       string           `json:"queue_id"`
	QueueName     string           `json:"queue_name"`
	Groups        []groupStatsJSON `json:"groups"`
	RedrivePolicy *string          `json:"redrive_policy,omitempty"`
}

func (s *Server) listGroups(rc *fasthttp.RequestCtx, p pathParams) error {
	dl, err := queryBool(rc.QueryArgs(), "include_deadletter")
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	q, err := s.lookupQueue(ctx, p)
	if err != nil {
		return err
	}
	out := groupListJSON{QueueID: q.ID, QueueName: q.Name, Groups: make([]groupStatsJSON, 0, len(q.Groups))}
	if dl {
		rp := redrivePolicy(q)
		out.RedrivePolicy = &rp
	}
	for _, g := range q.Groups {
		st, err := s.broker.GroupStats(ctx, q, g.ID)
		if errors.Is(err, cluster.ErrGroupNotFound) {
			continue // deleted since the queue was read
		}
		if err != nil {
			return fmt.Errorf("group %s stats: %w", g.ID, err)
		}
		j := groupStatsJSON{
			ID:                g.ID,
			Name:              g.Name,
			ProducedMessages:  st.Produced,
			ConsumedMessages:  st.Consumed,
			AvailableMessages: st.Available,
		}
		if dl {
			pd, ad := st.ProducedDeadLetters, st.AvailableDeadLetters
			j.ProducedDeadletters, j.AvailableDeadletters = &pd, &ad
		}
		out.Groups = append(out.Groups, j)
	}
	s.writeJSON(rc, fasthttp.StatusOK, out)
	return nil
}

func (s *Server) deleteGroup(rc *fasthttp.RequestCtx, p pathParams) error {
	ctx, cancel := s.requestContext(0)
	defer cancel()
	if _, ok := parseGroupID(p.group); !ok {
		// Not a group id; which 404 depends on whether the queue exists.
		if _, err := s.lookupQueue(ctx, p); err != nil {
			return err
		}
		return errGroupNotFound
	}
	if _, ok := parseUUID(p.queue); !ok {
		return errQueueNotFound
	}
	if err := s.broker.DeleteGroup(ctx, p.project, p.queue, p.group); err != nil {
		return err
	}
	rc.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}
