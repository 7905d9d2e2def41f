package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cdp/switchboard/core/config"
)

// adminClient talks to a running server's admin API.
type adminClient struct {
	server string
	token  string
	http   *http.Client
}

// adminFlags are the flags every command that talks to a running server
// shares: --server, --token and -c FILE.
type adminFlags struct{ server, token, file string }

// add registers the flags on cmd.
func (f *adminFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.server, "server", "", "URL of the running server (default: from -c FILE's server.listen, else http://127.0.0.1:8080)")
	cmd.Flags().StringVar(&f.token, "token", "", "admin bearer token (default: $SWITCHBOARD_ADMIN_TOKEN)")
	cmd.Flags().StringVarP(&f.file, "config", "c", "", "pipelines.yaml to read server.listen and server.admin_token from")
}

// run is a command's RunE that builds the admin client the flags describe
// and hands it to fn.
func (f *adminFlags) run(fn func(ctx context.Context, c *adminClient) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		c, err := newAdminClient(f.server, f.token, f.file)
		if err != nil {
			return err
		}
		return fn(cmd.Context(), c)
	}
}

func newAdminClient(server, token, file string) (*adminClient, error) {
	if file != "" && (server == "" || token == "") {
		cfg, err := config.Load(file)
		if err != nil {
			return nil, err
		}
		if server == "" {
			server = serverURL(cfg.Server.Listen, cfg.Server.TLSCert != "")
		}
		if token == "" {
			token = cfg.Server.AdminToken.Reveal()
		}
	}
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	if token == "" {
		token = os.Getenv("SWITCHBOARD_ADMIN_TOKEN")
	}
	return &adminClient{server: strings.TrimRight(server, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// serverURL turns a listen address such as ":8080" into a URL to dial.
func serverURL(listen string, tls bool) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://127.0.0.1:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// get fetches path and decodes the JSON answer into out; a non-2xx answer
// becomes an error carrying the server's message.
func (c *adminClient) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, out)
}

// post is get with POST.
func (c *adminClient) post(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodPost, path, out)
}

func (c *adminClient) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API at %s: %w", c.server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("admin API: %s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("admin API: %s", resp.Status)
	}
	return json.Unmarshal(body, out)
}
