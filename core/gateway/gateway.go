package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Store is what the gateway needs from the bus: readiness and reading back
// recent events for the admin API.
type Store interface {
	Ready(ctx context.Context) error
	Recent(ctx context.Context, filter string, limit int) ([]StoredEvent, error)
}

// StoredEvent is one event read back from the stream.
type StoredEvent struct {
	Seq      uint64          `json:"seq"`
	Subject  string          `json:"subject"`
	StoredAt time.Time       `json:"stored_at"`
	Event    json.RawMessage `json:"event"`
}

// Options configures a Gateway.
type Options struct {
	Listen         string
	TLSCert        string
	TLSKey         string
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	MaxHeaderBytes int
	// AdminToken guards /api/*. Empty: only loopback clients are served.
	AdminToken string
	// Routes maps a ServeMux pattern (e.g. "/v1/") to a source handler.
	Routes map[string]http.Handler
	// Admin maps ServeMux patterns under /api/ (e.g. "GET
	// /api/pipelines") to handlers served behind the admin token.
	Admin    map[string]http.Handler
	Store    Store
	Sources  []string // configured source names, for /api/events validation
	Gatherer prometheus.Gatherer
	Logger   *slog.Logger
}

// Gateway is the configured HTTP server.
type Gateway struct {
	opts Options
	log  *slog.Logger
	srv  *http.Server
	ln   net.Listener
}

// New builds the gateway's routes and server; Listen opens the socket.
func New(opts Options) *Gateway {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{opts: opts, log: opts.Logger}
	mux := http.NewServeMux()
	for pattern, h := range opts.Routes {
		mux.Handle(pattern, h)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", g.readyz)
	if opts.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.Handle("/api/", g.admin(http.HandlerFunc(g.api)))
	for pattern, h := range opts.Admin {
		mux.Handle(pattern, g.admin(h))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	g.srv = &http.Server{
		Handler:           mux,
		ReadTimeout:       opts.ReadTimeout,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	return g
}

// Handler is the gateway's routing, for tests and embedding.
func (g *Gateway) Handler() http.Handler { return g.srv.Handler }

// Listen opens the listening socket, so the address is known before Serve.
func (g *Gateway) Listen() error {
	ln, err := net.Listen("tcp", g.opts.Listen)
	if err != nil {
		return fmt.Errorf("gateway: listen %s: %w", g.opts.Listen, err)
	}
	g.ln = ln
	return nil
}

// Addr is the address the gateway listens on, after Listen.
func (g *Gateway) Addr() net.Addr {
	if g.ln == nil {
		return nil
	}
	return g.ln.Addr()
}

// Serve serves until ctx is done, then stops accepting, lets in-flight
// requests finish within grace and returns. Call Listen first.
func (g *Gateway) Serve(ctx context.Context, grace time.Duration) error {
	if g.ln == nil {
		if err := g.Listen(); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if g.opts.TLSCert != "" {
			err = g.srv.ServeTLS(g.ln, g.opts.TLSCert, g.opts.TLSKey)
		} else {
			err = g.srv.Serve(g.ln)
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("gateway: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := g.srv.Shutdown(sctx); err != nil {
		g.srv.Close()
		return fmt.Errorf("gateway: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway: %w", err)
	}
	return nil
}

func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := g.opts.Store.Ready(ctx); err != nil {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "error": err.Error()})
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"status": "ready"})
}

// admin guards h with the bearer admin token, or to loopback clients when
// no token is configured.
func (g *Gateway) admin(h http.Handler) http.Handler {
	token := []byte(g.opts.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(token) == 0 {
			if !isLoopback(r.RemoteAddr) {
				WriteError(w, http.StatusForbidden, "the admin API is served to loopback clients only unless server.admin_token is set")
				return
			}
			h.ServeHTTP(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard"`)
			WriteError(w, http.StatusUnauthorized, "missing or wrong admin token")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// WriteJSON answers with v as JSON and the given status; admin handlers
// mounted through Options.Admin use it so every endpoint answers alike.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers {"success":false,"error":msg} with the given status.
func WriteError(w http.ResponseWriter, code int, msg string) {
	WriteJSON(w, code, map[string]any{"success": false, "error": msg})
}
