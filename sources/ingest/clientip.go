package ingest

import (
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns the address of the client that made r, as a string
// ("" if unknown). When the peer (r.RemoteAddr) is inside one of trusted,
// X-Forwarded-For is walked from right to left, every header line and
// every comma-separated hop, skipping addresses inside trusted; the first
// address outside them is the client. A malformed hop stops the walk: the
// last trusted address before it is returned, since nothing further left
// can be believed. If every hop is trusted, the leftmost is returned.
// Without a trusted peer the header is ignored, so a client cannot choose
// its own IP.
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	peer, ok := parseHop(r.RemoteAddr)
	if !ok {
		return ""
	}
	if !contains(trusted, peer) {
		return peer.String()
	}
	last := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for v != "" {
			hop := v
			if j := strings.LastIndexByte(v, ','); j >= 0 {
				hop, v = v[j+1:], v[:j]
			} else {
				v = ""
			}
			hop = strings.TrimSpace(hop)
			if hop == "" {
				continue
			}
			ip, ok := parseHop(hop)
			if !ok {
				return last.String()
			}
			if !contains(trusted, ip) {
				return ip.String()
			}
			last = ip
		}
	}
	return last.String()
}

// parseHop parses "ip", "ip:port", "[ipv6]:port" or "[ipv6]", dropping any
// zone and unmapping IPv4-mapped IPv6.
func parseHop(s string) (netip.Addr, bool) {
	var ip netip.Addr
	if ap, err := netip.ParseAddrPort(s); err == nil {
		ip = ap.Addr()
	} else if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		ip = a
	} else {
		return netip.Addr{}, false
	}
	return ip.WithZone("").Unmap(), true
}

func contains(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// TrustedPeer reports whether r came directly from one of trusted, so that
// its X-Forwarded-* headers may be believed.
func TrustedPeer(r *http.Request, trusted []netip.Prefix) bool {
	peer, ok := parseHop(r.RemoteAddr)
	return ok && contains(trusted, peer)
}
