package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Options configures Open. The zero value of a field takes the default noted
// beside it.
type Options struct {
	// URL of an external NATS server or cluster (comma-separated). Empty:
	// start an embedded nats-server with JetStream.
	URL string
	// StoreDir is the embedded server's JetStream storage directory.
	StoreDir string
	// Listen exposes the embedded server on host:port for the nats CLI;
	// empty keeps it in-process only.
	Listen string
	// SyncAlways makes the embedded server fsync every write.
	SyncAlways bool

	Credentials string // .creds file
	User        string
	Password    string
	Token       string
	TLSCA       string
	TLSCert     string
	TLSKey      string
	TLSInsecure bool

	Stream   string // default "EVENTS"
	Replicas int    // default 1
	// DuplicateWindow is the events stream's Nats-Msg-Id window (default
	// 2m, JetStream's). Each id in it costs ~170 B of server memory, in
	// objects the garbage collector scans every cycle.
	DuplicateWindow time.Duration
	// NoMsgIDs makes Publish send no Nats-Msg-Id: the caller dedupes
	// (ingest's seen.Publisher does, with an embedded server). The header
	// costs JetStream a quarter of its publishing throughput: a header
	// scan and an entry in the window per message.
	NoMsgIDs bool
	// BatchPublish makes Publish store a call of several messages as one
	// JetStream fast batch (the stream then allows batched publishing):
	// one acknowledgement per call instead of one per message. The server
	// must know fast batches (the embedded one does); Publish falls back to
	// plain publishes when the server refuses a batch. It applies with
	// NoMsgIDs only: JetStream ends a batch at a first message it finds a
	// duplicate, so messages with ids go one by one. serve sets it with
	// the embedded server.
	BatchPublish bool
	Retention    time.Duration // default 168h
	MaxBytes     int64         // 0: unlimited

	// PublishTimeout bounds the wait for one request's acknowledgements,
	// retries across a leader election included (default 10s).
	PublishTimeout time.Duration
	// StartTimeout bounds how long Open keeps trying to reach NATS and to
	// create the events stream with an elected leader, retrying while a
	// cluster forms or elects (default 2m).
	StartTimeout time.Duration
	// Name is the client connection name (default "switchboard").
	Name   string
	Logger *slog.Logger
}

// batching reports whether Publish sends fast batches.
func (o *Options) batching() bool { return o.BatchPublish && o.NoMsgIDs }

func (o *Options) defaults() {
	if o.Stream == "" {
		o.Stream = "EVENTS"
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = 2 * time.Minute
	}
	if o.Retention == 0 {
		o.Retention = 168 * time.Hour
	}
	if o.PublishTimeout == 0 {
		o.PublishTimeout = 10 * time.Second
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.StoreDir == "" {
		o.StoreDir = "./data"
	}
	if o.Name == "" {
		o.Name = "switchboard"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Bus is an open JetStream connection with the events stream in place.
type Bus struct {
	opts    Options
	log     *slog.Logger
	srv     *server.Server // nil in external mode
	nc      *nats.Conn
	js      jetstream.JetStream
	acks    *acks
	batches *batchAcks // nil unless Options.BatchPublish
	stream  string
}

// SubjectsPrefix is the subject space of the events stream.
const SubjectsPrefix = "events."

// ReplayPrefix is the second subject space of the events stream: events
// re-published for one pipeline only, on replay.<pipeline>, by
// core/pipeline's replay functions. Only that pipeline's consumer reads them.
const ReplayPrefix = "replay."

// Open starts or connects to JetStream and creates or updates the events
// stream. It waits until the embedded server is ready rather than sleeping.
// Against a cluster it keeps trying, within Options.StartTimeout, while no
// seed answers yet or the stream has no elected leader.
func Open(ctx context.Context, opts Options) (*Bus, error) {
	opts.defaults()
	b := &Bus{opts: opts, log: opts.Logger, stream: opts.Stream}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	var err error
	if opts.URL == "" {
		err = b.startEmbedded()
	} else {
		err = b.connectExternal(ctx)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	b.js, err = jetstream.New(b.nc,
		jetstream.WithPublishAsyncMaxPending(1<<16),
		jetstream.WithPublishAsyncTimeout(opts.PublishTimeout),
	)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	if b.acks, err = newAcks(b.nc); err != nil {
		b.Close()
		return nil, err
	}
	if opts.batching() {
		if b.batches, err = newBatchAcks(b.nc); err != nil {
			b.Close()
			return nil, err
		}
	}
	if err := b.ensureStream(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bus) startEmbedded() error {
	if err := os.MkdirAll(b.opts.StoreDir, 0o750); err != nil {
		return fmt.Errorf("bus: store dir: %w", err)
	}
	sopts := &server.Options{
		ServerName:         "switchboard",
		JetStream:          true,
		StoreDir:           b.opts.StoreDir,
		NoSigs:             true,
		DontListen:         true,
		SyncAlways:         b.opts.SyncAlways,
		MaxPayload:         8 << 20,
		JetStreamMaxMemory: -1,
		JetStreamMaxStore:  -1,
	}
	if b.opts.Listen != "" {
		host, port, err := net.SplitHostPort(b.opts.Listen)
		if err != nil {
			return fmt.Errorf("bus: nats.listen %q: %w", b.opts.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return fmt.Errorf("bus: nats.listen %q: bad port", b.opts.Listen)
		}
		if host == "" {
			host = "0.0.0.0"
		}
		sopts.DontListen = false
		sopts.Host, sopts.Port = host, p
	}
	s, err := server.NewServer(sopts)
	if err != nil {
		return fmt.Errorf("bus: embedded nats-server: %w", err)
	}
	s.SetLoggerV2(&serverLog{log: b.log.With("component", "nats-server")}, false, false, false)
	s.Start()
	b.srv = s
	if !s.ReadyForConnections(30 * time.Second) {
		return fmt.Errorf("bus: embedded nats-server not ready after 30s (store dir %s)", b.opts.StoreDir)
	}
	nc, err := nats.Connect("", nats.InProcessServer(s), nats.Name(b.opts.Name))
	if err != nil {
		return fmt.Errorf("bus: connect to embedded server: %w", err)
	}
	b.nc = nc
	b.log.Info("embedded JetStream started", "store_dir", b.opts.StoreDir, "listen", b.opts.Listen)
	return nil
}

func (b *Bus) connectExternal(ctx context.Context) error {
	o := []nats.Option{
		nats.Name(b.opts.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(false),
		// A node that vanishes without closing its connections (host
		// lost, network cut) is noticed within about 30s rather than the
		// client default of 4 minutes.
		nats.PingInterval(10 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				b.log.Warn("disconnected from NATS", "error", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.log.Info("reconnected to NATS", "server", nc.ConnectedUrlRedacted())
		}),
	}
	if b.opts.Credentials != "" {
		o = append(o, nats.UserCredentials(b.opts.Credentials))
	}
	if b.opts.User != "" {
		o = append(o, nats.UserInfo(b.opts.User, b.opts.Password))
	}
	if b.opts.Token != "" {
		o = append(o, nats.Token(b.opts.Token))
	}
	if b.opts.TLSCA != "" || b.opts.TLSCert != "" || b.opts.TLSInsecure {
		cfg, err := b.tlsConfig()
		if err != nil {
			return err
		}
		o = append(o, nats.Secure(cfg))
	}
	// No seed answering yet (the cluster is starting) is retried within
	// the start deadline; a refused login or a TLS problem is not.
	var nc *nats.Conn
	err := retry(ctx, b.log, "connect to "+redactURL(b.opts.URL), func(context.Context) error {
		var err error
		nc, err = nats.Connect(b.opts.URL, o...)
		return err
	})
	if err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	b.nc = nc
	b.log.Info("connected to NATS", "server", nc.ConnectedUrlRedacted())
	return nil
}

func (b *Bus) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: b.opts.TLSInsecure} //nolint:gosec // operator's explicit choice
	if b.opts.TLSCA != "" {
		pem, err := os.ReadFile(b.opts.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("bus: nats.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("bus: nats.tls.ca %s: no certificates", b.opts.TLSCA)
		}
		cfg.RootCAs = pool
	}
	if b.opts.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(b.opts.TLSCert, b.opts.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("bus: nats.tls cert/key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// unlimitedPerSubject is the events stream's per-subject message limit:
// 2^62, reached by no subject (see ensureStream).
const unlimitedPerSubject = 1 << 62

func (b *Bus) ensureStream(ctx context.Context) error {
	cfg := jetstream.StreamConfig{
		Name:        b.stream,
		Description: "Switchboard events, one message per accepted tracking call",
		Subjects:    []string{SubjectsPrefix + ">", ReplayPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Replicas:    b.opts.Replicas,
		MaxAge:      b.opts.Retention,
		Duplicates:  b.opts.DuplicateWindow,
		MaxBytes:    b.opts.MaxBytes,
		Discard:     jetstream.DiscardNew,
		AllowDirect: true,
		// Fast batches; an older server ignores the field (Publish then
		// falls back to plain publishes).
		AllowBatchPublish: b.opts.batching(),
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = -1
		// A per-subject limit no stream reaches, for its side effect:
		// nats-server then writes the stream in 4 MB blocks instead of
		// 8 MB ones (its autoTuneFileStorageBlockSize). The server keeps a
		// block's buffer for 10 s after the block was last written or
		// read, and a busy stream touches many blocks in 10 s: serve's
		// peak RSS end to end at ~22,000 events/s fell from 247–322 MB to
		// 151–189 MB, at 5,000/s from 150–155 to 144 MB, throughput
		// unchanged (bench all --stages e2e, interleaved rounds). With
		// MaxBytes set the server sizes blocks from it instead.
		cfg.MaxMsgsPerSubject = unlimitedPerSubject
	}
	if !cfg.AllowBatchPublish {
		// A bus that does not batch leaves batches allowed for one that
		// does: a serve reaching another serve's embedded server through
		// nats.listen would otherwise turn them off under it.
		// A quick look only: a cluster still electing its leaders answers
		// later, and EnsureStream then waits for it with retries.
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if st, err := b.js.Stream(lctx, b.stream); err == nil && st.CachedInfo().Config.AllowBatchPublish {
			cfg.AllowBatchPublish = true
		}
		cancel()
	}
	if _, err := EnsureStream(ctx, b.js, cfg, b.log); err != nil {
		return fmt.Errorf("bus: %w", err)
	}
	return nil
}

// Conn is the underlying NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream is the JetStream context used by the bus.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Stream is the name of the events stream.
func (b *Bus) Stream() string { return b.stream }

// ClientURL is the URL a separate client can reach the embedded server on,
// or the external URL; empty when the embedded server is in-process only.
func (b *Bus) ClientURL() string {
	if b.srv == nil {
		return b.opts.URL
	}
	if b.opts.Listen == "" {
		return ""
	}
	return b.srv.ClientURL()
}

// Ready reports whether JetStream answers and the events stream exists.
func (b *Bus) Ready(ctx context.Context) error {
	if b.nc == nil || !b.nc.IsConnected() {
		return fmt.Errorf("%w: not connected", ErrUnavailable)
	}
	if _, err := b.js.Stream(ctx, b.stream); err != nil {
		return fmt.Errorf("%w: stream %s: %v", ErrUnavailable, b.stream, err)
	}
	return nil
}

// Close drains the connection and shuts the embedded server down, waiting
// for it to finish. It is safe to call on a partly opened Bus.
func (b *Bus) Close() {
	if b.acks != nil {
		b.acks.close()
	}
	if b.batches != nil && b.batches.sub != nil {
		_ = b.batches.sub.Unsubscribe()
	}
	if b.nc != nil {
		done := make(chan struct{})
		b.nc.SetClosedHandler(func(*nats.Conn) { close(done) })
		if err := b.nc.Drain(); err != nil {
			b.nc.Close()
		} else {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				b.nc.Close()
			}
		}
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}

func redactURL(u string) string {
	parts := strings.Split(u, ",")
	for i, p := range parts {
		pu, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "<unparsable url>"
			continue
		}
		if pu.User != nil {
			pu.User = url.User("***")
		}
		parts[i] = pu.String()
	}
	return strings.Join(parts, ",")
}
