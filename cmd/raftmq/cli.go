package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Exit statuses of the client commands (API.md, Operations).
const (
	exitOK      = 0
	exitRefused = 1 // the server or the network refused
	exitUsage   = 2 // the command line is wrong
)

// usageError is a command line the client cannot run: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// apiError is an answer of the server that is not a success: exit 1.
type apiError struct {
	Status int
	Code   string
	Msg    string
}

func (e *apiError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("server answered %d: %s", e.Status, e.Msg)
	}
	return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Msg)
}

// cmdClient holds what every client command shares: where the server is, who
// the user is, how to print, and the process's streams.
type cmdClient struct {
	Server    string
	Project   string
	AccessKey string
	SecretKey string
	Output    string // table or json
	CA        string // PEM bundle that verifies an https:// server

	stdin          io.Reader
	stdout, stderr io.Writer
	http           *http.Client
	now            func() time.Time
}

// newClient returns a cmdClient with the environment's defaults.
func newClient(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) *cmdClient {
	or := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	return &cmdClient{
		Server: or("RAFTMQ_SERVER", "http://127.0.0.1:9000"), Project: or("RAFTMQ_PROJECT", "default"),
		AccessKey: getenv("RAFTMQ_ACCESS_KEY"), SecretKey: getenv("RAFTMQ_SECRET_KEY"), Output: "table", CA: getenv("RAFTMQ_CA"),
		stdin: stdin, stdout: stdout, stderr: stderr,
		http: &http.Client{Timeout: 90 * time.Second}, now: time.Now,
	}
}

// flags returns a flag set for command name with the shared flags on it.
func (c *cmdClient) flags(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet("raftmq "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.StringVar(&c.Server, "server", c.Server, "base URL of a node (RAFTMQ_SERVER)")
	fs.StringVar(&c.Project, "project", c.Project, "project id (RAFTMQ_PROJECT)")
	fs.StringVar(&c.AccessKey, "access-key", c.AccessKey, "access key id; with --secret-key, requests are signed (RAFTMQ_ACCESS_KEY)")
	fs.StringVar(&c.SecretKey, "secret-key", c.SecretKey, "secret access key (RAFTMQ_SECRET_KEY)")
	fs.StringVar(&c.Output, "o", c.Output, "output format: table or json")
	fs.StringVar(&c.CA, "ca", c.CA, "PEM CA bundle that verifies an https:// server (RAFTMQ_CA; default: the system pool)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: raftmq %s %s\n\nFlags:\n", name, args)
		printFlags(fs)
	}
	return fs
}

// parse parses args with fs, letting flags follow positional arguments, and
// checks that exactly want positional arguments remain (want < 0: any
// number). It returns the positional arguments.
func (c *cmdClient) parse(fs *flag.FlagSet, args []string, want int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if want >= 0 && len(pos) != want {
		fs.Usage()
		return nil, usagef("%s: want %d argument(s), got %d", fs.Name(), want, len(pos))
	}
	if c.Output != "table" && c.Output != "json" {
		return nil, usagef("-o %q: want table or json", c.Output)
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return nil, usagef("--access-key and --secret-key go together")
	}
	if _, err := url.Parse(c.Server); err != nil || !strings.HasPrefix(c.Server, "http") {
		return nil, usagef("--server %q: want a URL such as http://127.0.0.1:9000", c.Server)
	}
	if c.CA != "" {
		pem, err := os.ReadFile(c.CA)
		if err != nil {
			return nil, usagef("--ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usagef("--ca %s: no PEM certificate in it", c.CA)
		}
		c.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return pos, nil
}

// dms returns the URL of a DMS path of the client's project.
func (c *cmdClient) dms(path string) string {
	return strings.TrimRight(c.Server, "/") + "/v1.0/" + url.PathEscape(c.Project) + path
}

// node returns the URL of a node endpoint.
func (c *cmdClient) node(path string) string { return strings.TrimRight(c.Server, "/") + path }

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (when not nil). A status other than want is an *apiError. Admin
// endpoints accept the same signature as the DMS door.
func (c *cmdClient) do(method, u string, body any, want int, out any) error {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return err
		}
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(b))
	if err != nil {
		return usagef("%v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.AccessKey != "" {
		if err := signRequest(req, b, c.AccessKey, c.SecretKey, c.now()); err != nil {
			return usagef("sign %s: %v", u, err)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err // *url.Error: it names the method and URL
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode != want {
		return decodeAPIError(resp.StatusCode, rb)
	}
	if out != nil && len(rb) > 0 {
		if err := json.Unmarshal(rb, out); err != nil {
			return fmt.Errorf("%s %s: answer is not the expected JSON: %w", method, u, err)
		}
	}
	return nil
}

func decodeAPIError(status int, body []byte) *apiError {
	var e struct {
		Code string `json:"error_code"`
		Msg  string `json:"error_msg"`
	}
	if json.Unmarshal(body, &e) == nil && (e.Code != "" || e.Msg != "") {
		return &apiError{Status: status, Code: e.Code, Msg: e.Msg}
	}
	return &apiError{Status: status, Msg: strings.TrimSpace(string(body))}
}

// printJSON writes v as indented JSON.
func (c *cmdClient) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printTable writes rows under header, columns aligned.
func (c *cmdClient) printTable(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// subcommandHelp answers `raftmq NOUN -h`: the verbs of NOUN, exit 0.
func (c *cmdClient) subcommandHelp(args []string, lines string) (bool, error) {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(c.stderr, lines+"\n\nEach takes -h for its flags.")
		return true, flag.ErrHelp
	}
	return false, nil
}

// subcommand is one verb of a command ("queue create").
type subcommand struct {
	name string
	run  func(args []string) error
}

// subcommands runs the verb args[0] of command name, answering -h with
// usage and a missing or unknown verb with a usage error.
func (c *cmdClient) subcommands(name, usage string, args []string, subs []subcommand) error {
	if ok, err := c.subcommandHelp(args, usage); ok {
		return err
	}
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	want := strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
	if len(args) == 0 {
		return usagef("%s: want %s", name, want)
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(args[1:])
		}
	}
	return usagef("%s %s: unknown; want %s", name, args[0], want)
}

// exitCode maps a command's error to the process's exit status, printing it.
func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	fmt.Fprintln(stderr, "raftmq:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitRefused
}
