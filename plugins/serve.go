package plugins

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	destinationv1 "github.com/switchboard-cdp/switchboard/plugins/proto/switchboard/destination/v1"
)

// ProtocolVersion is the version of the host↔plugin protocol this package
// speaks (package switchboard.destination.v1). A future incompatible
// protocol gets a new number; hosts and plugins then negotiate through
// VersionedPlugins.
const ProtocolVersion = 1

// PluginName is the name under which a plugin process offers its
// destination in the go-plugin plugin set.
const PluginName = "destination"

// Handshake is the go-plugin handshake shared by the host and every plugin.
// The magic cookie only tells a plugin it was launched by a host; it is not
// a security measure.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "SWITCHBOARD_PLUGIN",
	MagicCookieValue: "destination-7b1e5c0a93d2f4e6",
}

// VersionedPlugins returns the plugin sets a host passes in
// plugin.ClientConfig.VersionedPlugins: protocol version 1 → {"destination"}.
// Dispensing "destination" from the resulting client yields a Destination.
func VersionedPlugins() map[int]plugin.PluginSet {
	return map[int]plugin.PluginSet{
		ProtocolVersion: {PluginName: &DestinationPlugin{}},
	}
}

// ClientConfig returns the go-plugin client configuration to launch cmd as
// a destination plugin: the handshake, VersionedPlugins, gRPC only,
// automatic mutual TLS, and flow-control windows sized for large batches.
// The host adds its own Logger, Stderr, StartTimeout and so on before
// calling plugin.NewClient.
func ClientConfig(cmd *exec.Cmd) *plugin.ClientConfig {
	return &plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: VersionedPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithInitialWindowSize(windowSize), grpc.WithInitialConnWindowSize(windowSize),
			grpc.WithReadBufferSize(ioBufferSize), grpc.WithWriteBufferSize(ioBufferSize),
		},
	}
}

// Dispense starts the plugin process of c if it is not running, completes
// the handshake and returns its destination. Handshake failures come back
// as ErrNotPlugin or ErrProtocolVersion, with go-plugin's explanation.
func Dispense(c *plugin.Client) (Destination, error) {
	rpc, err := c.Client()
	if err != nil {
		return nil, handshakeError(err)
	}
	raw, err := rpc.Dispense(PluginName)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotPlugin, err)
	}
	d, ok := raw.(Destination)
	if !ok {
		return nil, fmt.Errorf("%w: plugin %q is a %T, not a Destination", ErrNotPlugin, PluginName, raw)
	}
	return d, nil
}

var pluginVersionRE = regexp.MustCompile(`Plugin version: (\S+),`)

// handshakeError classifies go-plugin's handshake errors, which are plain
// strings.
func handshakeError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "incompatible API version"):
		theirs := "another"
		if m := pluginVersionRE.FindStringSubmatch(msg); m != nil {
			theirs = m[1]
		}
		return fmt.Errorf("%w: the plugin speaks protocol version %s, this host speaks %d; "+
			"rebuild the plugin against a matching github.com/switchboard-cdp/switchboard/plugins: %w",
			ErrProtocolVersion, theirs, ProtocolVersion, err)
	case strings.Contains(msg, "incompatible core API version"):
		return fmt.Errorf("%w: %w", ErrProtocolVersion, err)
	case strings.Contains(msg, "Unrecognized remote plugin message"),
		strings.Contains(msg, "plugin exited before we could connect"),
		strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("%w: the executable did not complete the plugin handshake "+
			"(a destination plugin's main calls plugins.Serve and prints nothing on stdout before it): %w",
			ErrNotPlugin, err)
	}
	return err
}

// DestinationPlugin is the go-plugin plugin that carries a Destination over
// gRPC. Plugin authors never use it: Serve does. The host gets it from
// VersionedPlugins; tests of the gRPC shim put one with Impl set into
// plugin.TestPluginGRPCConn.
type DestinationPlugin struct {
	plugin.NetRPCUnsupportedPlugin

	// Impl is the destination served, on the plugin side; nil on the host.
	Impl Destination
	// Logger is passed to Impl as Config.Logger and logs recovered panics,
	// on the plugin side; nil means Logger().
	Logger *slog.Logger
}

// GRPCServer registers Impl's gRPC service (plugin side).
func (p *DestinationPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil {
		return fmt.Errorf("plugins: DestinationPlugin.Impl is nil")
	}
	logger := p.Logger
	if logger == nil {
		logger = Logger()
	}
	destinationv1.RegisterDestinationServer(s, &destinationServer{impl: p.Impl, broker: broker, logger: logger})
	return nil
}

// GRPCClient returns the host's Destination: its methods are calls to the
// plugin, and Configure serves Config.Host back to the plugin through
// broker. ctx ends when the plugin process is gone.
func (p *DestinationPlugin) GRPCClient(ctx context.Context, broker *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &destinationClient{
		client:      destinationv1.NewDestinationClient(conn),
		broker:      broker,
		done:        ctx,
		deliverOpts: []grpc.CallOption{grpc.ForceCodecV2(newCodec())},
	}, nil
}

// Serve serves d as a destination plugin and returns when the host ends
// the plugin. A plugin's main calls it and nothing else:
//
//	func main() { plugins.Serve(&MyDestination{}) }
//
// Serve writes nothing on stdout but go-plugin's handshake line; logs go to
// stderr (see Logger). Run by hand, outside a host, the binary explains
// what it is on stderr and exits with status 1.
func Serve(d Destination) {
	if !launchedByHost(os.Getenv, os.Stderr, os.Args[0]) {
		os.Exit(1)
	}
	logger := Logger()
	if path := os.Getenv(CPUProfileEnv); path != "" {
		stop, err := startCPUProfile(path + "." + strconv.Itoa(os.Getpid()))
		if err != nil {
			logger.Warn("no CPU profile", "error", err)
		} else {
			defer stop()
		}
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{
			ProtocolVersion: {PluginName: &DestinationPlugin{Impl: d, Logger: logger}},
		},
		GRPCServer: newGRPCServer,
		Logger:     internalLogger(),
	})
}

// CPUProfileEnv is the environment variable that makes a plugin write a
// CPU profile (go tool pprof) of its whole run: set it on serve, and every
// plugin process writes VALUE.PID when the host stops it.
const CPUProfileEnv = "SWITCHBOARD_PLUGIN_CPUPROFILE"

// startCPUProfile profiles the process's CPU into path until stop.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// newGRPCServer is the plugin's gRPC server: go-plugin's options (TLS)
// plus a message size that fits large batches, and the codec of codec.go.
func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts,
		grpc.ForceServerCodecV2(newCodec()),
		grpc.MaxRecvMsgSize(maxMessageSize), grpc.MaxSendMsgSize(maxMessageSize),
		grpc.InitialWindowSize(windowSize), grpc.InitialConnWindowSize(windowSize),
		grpc.ReadBufferSize(ioBufferSize), grpc.WriteBufferSize(ioBufferSize),
	)
	return grpc.NewServer(opts...)
}

// Flow-control windows and I/O buffers sized for batches of hundreds of
// kilobytes, so that one Deliver needs no window updates on the way.
const (
	windowSize   = 8 << 20
	ioBufferSize = 256 << 10
)

// launchedByHost reports whether the magic cookie is set, and otherwise
// tells the human who ran the binary what it is.
func launchedByHost(getenv func(string) string, stderr io.Writer, arg0 string) bool {
	if getenv(Handshake.MagicCookieKey) == Handshake.MagicCookieValue {
		return true
	}
	name := filepath.Base(arg0)
	fmt.Fprintf(stderr, `%s is a Switchboard destination plugin: Switchboard starts it, people don't.
Reference it by path in pipelines.yaml:

    destinations:
      mine:
        plugin: %s
        settings: {...}

and run "switchboard plugins inspect %s" to see the settings it takes.
`, name, arg0, arg0)
	return false
}

var _ plugin.GRPCPlugin = (*DestinationPlugin)(nil)
