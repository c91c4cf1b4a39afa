package httpapi

import (
	"strings"

	"github.com/valyala/fasthttp"
)

// serveOps serves the operator's endpoints: /metrics and the console. It
// reports whether path was one of them.
func (s *Server) serveOps(rc *fasthttp.RequestCtx, method, path string) (bool, error) {
	switch {
	case path == MetricsPath && s.metrics != nil:
		return true, s.serveNode(rc, method, s.serveMetrics)
	case path == "/console" || strings.HasPrefix(path, ConsolePath):
		return true, s.serveNode(rc, method, s.serveConsole)
	}
	return false, nil
}
