package httpapi

import (
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// clockOffset serves ClockOffsetPath (TEST ONLY; routed only when
// Config.ClockControl is set): GET reads the offset, POST ?ms=N sets it.
func (s *Server) clockOffset(rc *fasthttp.RequestCtx, method string) error {
	c := s.cfg.ClockControl
	switch method {
	case fasthttp.MethodGet:
	case fasthttp.MethodPost:
		raw := string(rc.QueryArgs().Peek("ms"))
		ms, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || ms < -MaxClockOffset.Milliseconds() || ms > MaxClockOffset.Milliseconds() {
			return malformed("ms must be an integer number of milliseconds within ±%d, got %q", MaxClockOffset.Milliseconds(), raw)
		}
		c.SetOffset(time.Duration(ms) * time.Millisecond)
		s.log.Warn("TEST ONLY: clock offset set", "offset_ms", ms)
	default:
		return s.methodNotAllowed(rc, map[string]endpoint{fasthttp.MethodGet: nil, fasthttp.MethodPost: nil})
	}
	s.writeJSON(rc, fasthttp.StatusOK, struct {
		OffsetMs int64 `json:"offset_ms"`
	}{c.Offset().Milliseconds()})
	return nil
}
