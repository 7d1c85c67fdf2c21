package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/scopegate/scopegate/internal/admin"
)

// explainFlags are the flags of explain.
type explainFlags struct {
	keyID, key     string
	method, path   string
	body, bodyFile string
	clientIP       string
}

func (x *explainFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&x.keyID, "key-id", "", "id of the key to explain")
	fs.StringVar(&x.key, "key", "", `the whole key (sgk_…), or "-" to read it from stdin; only its id is used`)
	fs.StringVar(&x.method, "method", "", "request method, e.g. POST (required)")
	fs.StringVar(&x.path, "path", "", "request path, e.g. /v1/chat/completions (required)")
	fs.StringVar(&x.body, "body", "", "request body, JSON")
	fs.StringVar(&x.bodyFile, "body-file", "", `file holding the request body, or "-" for stdin`)
	fs.StringVar(&x.clientIP, "client-ip", "", "client address, for keys limited to networks")
	cmd.MarkFlagRequired("method")
	cmd.MarkFlagRequired("path")
	cmd.MarkFlagsOneRequired("key-id", "key")
	cmd.MarkFlagsMutuallyExclusive("key-id", "key")
	cmd.MarkFlagsMutuallyExclusive("body", "body-file")
}

func newExplainCmd(e *env) *cobra.Command {
	var f adminFlags
	var x explainFlags
	cmd := &cobra.Command{
		Use:   "explain (--key-id ID | --key KEY) --method METHOD --path PATH [--body JSON | --body-file FILE] [--client-ip IP]",
		Short: "Show what the gateway would decide for a key and a request, and why",
		Long: `explain asks the admin API what the data plane would answer a request made
with a key: allow or deny, the stage that decided (authenticate, route,
parse, authorize), the status the client would get, and the feature and
scope that granted it or the scope that is missing. Nothing is forwarded
and nothing is recorded.

The exit status is 0 for an allow and for a deny alike: the answer is a
report. It is non-zero only when no answer could be had.

The method is sent in upper case. Pass the key itself with --key - on stdin
rather than on the command line, where other users can see it.`,
		Example: `  scopegate explain --key-id AbCdEfGhIjKlMnOp --method POST --path /v1/chat/completions \
    --body '{"model":"mock-large","messages":[{"role":"user","content":"hi"}]}'
  scopegate explain --key - --method GET --path /v1/models < key.txt
  scopegate explain --key-id AbCdEfGhIjKlMnOp --method POST --path /v1/messages --body-file req.json -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := f.open(cmd, e)
			if err != nil {
				return err
			}
			req, err := x.request(e.stdin)
			if err != nil {
				return err
			}
			r, err := s.client.Explain(cmd.Context(), req)
			if err != nil {
				return fmt.Errorf("explain: %w", err)
			}
			return printRecord(s, r, explainBlock)
		},
	}
	f.register(cmd)
	x.register(cmd)
	return cmd
}

// request builds the API request from the flags, reading the key or the
// body from stdin when asked to.
func (x *explainFlags) request(stdin io.Reader) (admin.ExplainRequest, error) {
	if x.key == "-" && x.bodyFile == "-" {
		return admin.ExplainRequest{}, errors.New("--key - and --body-file - cannot both read stdin")
	}
	req := admin.ExplainRequest{KeyID: x.keyID, Method: strings.ToUpper(x.method), Path: x.path, ClientIP: x.clientIP}
	key, err := x.keyText(stdin)
	if err != nil {
		return admin.ExplainRequest{}, err
	}
	req.Key = key
	if req.Body, err = x.bodyJSON(stdin); err != nil {
		return admin.ExplainRequest{}, err
	}
	return req, nil
}

// keyText returns --key, or the first line of stdin for "-".
func (x *explainFlags) keyText(stdin io.Reader) (string, error) {
	if x.key != "-" {
		return x.key, nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("--key -: read stdin: %w", err)
	}
	if line = strings.TrimSpace(line); line == "" {
		return "", errors.New("--key -: stdin holds no key")
	}
	return line, nil
}

// bodyJSON returns the body from --body or --body-file, checked to be
// JSON here, so the error names the flag rather than the encoder.
func (x *explainFlags) bodyJSON(stdin io.Reader) (json.RawMessage, error) {
	var b []byte
	flag := "--body"
	switch {
	case x.bodyFile == "-":
		flag = "--body-file -"
		var err error
		if b, err = io.ReadAll(stdin); err != nil {
			return nil, fmt.Errorf("%s: read stdin: %w", flag, err)
		}
	case x.bodyFile != "":
		flag = "--body-file " + x.bodyFile
		var err error
		if b, err = os.ReadFile(x.bodyFile); err != nil {
			return nil, err
		}
	case x.body != "":
		b = []byte(x.body)
	default:
		return nil, nil
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("%s: not valid JSON", flag)
	}
	return json.RawMessage(b), nil
}

// explainBlock describes an explanation; optional fields appear only when
// set, and the message comes last, since it is the longest.
func explainBlock(r admin.ExplainResult) []field {
	fs := []field{
		{"decision", r.Decision},
		{"stage", r.Stage},
		{"status", strconv.Itoa(r.Status)},
		{"reason", r.Reason},
	}
	fs = appendIfSet(fs, "feature", r.Feature)
	fs = appendIfSet(fs, "scope", r.Scope)
	fs = appendIfSet(fs, "required_scope", r.RequiredScope)
	fs = appendIfSet(fs, "resource", r.Resource)
	fs = appendIfSet(fs, "upstream", r.Upstream)
	fs = appendIfSet(fs, "upstream_path", r.UpstreamPath)
	return append(fs, field{"message", r.Message})
}
