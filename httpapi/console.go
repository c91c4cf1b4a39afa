package httpapi

import (
	"embed"
	"mime"
	"path"
	"strings"

	"github.com/valyala/fasthttp"
)

// ConsolePath is where the web console is served.
const ConsolePath = "/console/"

// consoleFiles are the console's static files: plain HTML, CSS and
// JavaScript that read the JSON API from the browser.
//
//go:embed console
var consoleFiles embed.FS

// serveConsole answers GET /console/...: the embedded files, index.html for
// the directory itself; /console redirects to /console/.
func (s *Server) serveConsole(rc *fasthttp.RequestCtx) error {
	p := string(rc.Path())
	if p == "/console" {
		rc.Redirect(ConsolePath, fasthttp.StatusMovedPermanently)
		return nil
	}
	name := strings.TrimPrefix(p, ConsolePath)
	if name == "" {
		name = "index.html"
	}
	b, err := consoleFiles.ReadFile(path.Join("console", path.Clean("/" + name)[1:]))
	if err != nil {
		return errUnknownPath
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	rc.SetStatusCode(fasthttp.StatusOK)
	rc.SetContentType(ct)
	// The page makes no request outside its node, and its files are never
	// framed by another site.
	rc.Response.Header.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	rc.Response.Header.Set("X-Content-Type-Options", "nosniff")
	rc.Response.Header.Set("Cache-Control", "no-cache")
	rc.SetBody(b)
	return nil
}
