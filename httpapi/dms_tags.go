package httpapi

import (
	"github.com/valyala/fasthttp"

	"raftmq/cluster"
)

// Queue tags (API.md, "/v2 paths and queue tags"), served under /v2 only,
// with the shapes of Huawei's newer DMS queue API:
//
//	POST /v2/{project_id}/queue/{queue_id}/tags/action  {"action":"create"|"delete","tags":[{"key":..,"value":..}]} → 204
//	GET  /v2/{project_id}/queue/{queue_id}/tags         → {"tags":[{"key":..,"value":..}]}
//	GET  /v2/{project_id}/queue/tags                    → {"tags":[{"key":..,"values":[..]}]}

// tagRoutes lists the queue tag routes (v2 only).
func (s *Server) tagRoutes() []route {
	return []route{
		{segments: []string{"queue", "tags"}, methods: map[string]endpoint{fasthttp.MethodGet: s.projectTags}, v2Only: true},
		{segments: []string{"queue", "{queue}", "tags"}, methods: map[string]endpoint{fasthttp.MethodGet: s.queueTags}, v2Only: true},
		{segments: []string{"queue", "{queue}", "tags", "action"}, methods: map[string]endpoint{fasthttp.MethodPost: s.queueTagsAction}, v2Only: true},
	}
}

// parseTagAction validates a tag action body: action create or delete, 1 to
// cluster.MaxTagsPerQueue tags with distinct keys, each valid by
// cluster.ValidTag (a delete may leave out the value). Everything else is
// 400 10540010.
func parseTagAction(body []byte) (string, []cluster.QueueTag, error) {
	o, err := parseObject(body)
	if err != nil {
		return "", nil, err
	}
	action, _, err := o.stringField("action")
	if err != nil {
		return "", nil, err
	}
	if action != cluster.TagActionCreate && action != cluster.TagActionDelete {
		return "", nil, malformed("action must be create or delete")
	}
	elems, err := o.arrayField("tags", 1, cluster.MaxTagsPerQueue)
	if err != nil {
		return "", nil, err
	}
	tags := make([]cluster.QueueTag, 0, len(elems))
	for i, e := range elems {
		m, err := elementObject(e, "tags", i)
		if err != nil {
			return "", nil, err
		}
		var t cluster.QueueTag
		if t.Key, _, err = m.stringField("key"); err != nil {
			return "", nil, err
		}
		if t.Value, _, err = m.stringField("value"); err != nil {
			return "", nil, err
		}
		if why := cluster.ValidTag(t); why != "" {
			return "", nil, malformed("tags[%d]: %s", i, why)
		}
		for _, prev := range tags {
			if prev.Key == t.Key {
				return "", nil, malformed("tags[%d]: key %q given twice", i, t.Key)
			}
		}
		tags = append(tags, t)
	}
	return action, tags, nil
}

func (s *Server) queueTagsAction(rc *fasthttp.RequestCtx, p pathParams) error {
	action, tags, err := parseTagAction(rc.PostBody())
	if err != nil {
		return err
	}
	ctx, cancel := s.requestContext(0)
	defer cancel()
	if _, err := s.lookupQueue(ctx, p); err != nil {
		return err
	}
	if err := s.broker.SetQueueTags(ctx, p.project, p.queue, action, tags); err != nil {
		return err
	}
	rc.SetStatusCode(fasthttp.StatusNoContent)
	return nil
}

func (s *Server) queueTags(rc *fasthttp.RequestCtx, p pathParams) error {
	ctx, cancel := s.requestContext(0)
	defer cancel()
	if _, err := s.lookupQueue(ctx, p); err != nil {
		return err
	}
	tags, err := s.broker.QueueTags(ctx, p.project, p.queue)
	if err != nil {
		return err
	}
	if tags == nil {
		tags = []cluster.QueueTag{}
	}
	s.writeJSON(rc, fasthttp.StatusOK, struct {
		Tags []cluster.QueueTag `json:"tags"`
	}{tags})
	return nil
}

func (s *Server) projectTags(rc *fasthttp.RequestCtx, p pathParams) error {
	ctx, cancel := s.requestContext(0)
	defer cancel()
	tvs, err := s.broker.ProjectTags(ctx, p.project)
	if err != nil {
		return err
	}
	type tagJSON struct {
		Key    string   `json:"key"`
		Values []string `json:"values"`
	}
	out := struct {
		Tags []tagJSON `json:"tags"`
	}{Tags: make([]tagJSON, 0, len(tvs))}
	for _, tv := range tvs {
		out.Tags = append(out.Tags, tagJSON{tv.Key, tv.Values})
	}
	s.writeJSON(rc, fasthttp.StatusOK, out)
	return nil
}
