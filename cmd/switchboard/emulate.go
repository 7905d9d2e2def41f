package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboard-cdp/switchboard/destinations/metacapi/graphemu"
)

func newEmulateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Run a local emulator of a destination's API, to see what Switchboard would send",
		Args:  cobra.NoArgs,
	}
	var listen, pixel, token, appSecret string
	meta := &cobra.Command{
		Use:   "meta",
		Short: "Emulate Meta's Conversions API (/{version}/{pixel}/events) and check requests the way Meta does",
		Long: `Serves a faithful stand-in for graph.facebook.com's Conversions API edge:
the same body encodings, token and appsecret_proof checks, the 1,000-event
limit and per-event rules, and Meta's error envelopes. Point the meta-capi
destination's graph_url at it. What it received:
  GET /_emulator/events?pixel=ID, /_emulator/requests, /_emulator/duplicates?pixel=ID
Faults to rehearse throttling and outages: POST /_emulator/faults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			emu := graphemu.New(graphemu.Options{
				Pixels: map[string]graphemu.Pixel{pixel: {Tokens: []string{token}, AppSecret: appSecret}},
				Logger: log,
			})
			defer emu.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintf(g.stdout, "Meta Graph API emulator on http://%s (pixel %s); set graph_url to it\n", ln.Addr(), pixel)
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-cmd.Context().Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	meta.Flags().StringVar(&listen, "listen", "127.0.0.1:8090", "address to serve on")
	meta.Flags().StringVar(&pixel, "pixel", "1234567890", "the pixel (dataset) ID it knows")
	meta.Flags().StringVar(&token, "token", "dev-access-token", "the access token it accepts")
	meta.Flags().StringVar(&appSecret, "app-secret", "", "require appsecret_proof made with this app secret")
	cmd.AddCommand(meta)
	return cmd
}
