package host

import "strings"

// LocalAddress is what {host} stands for in run.command and run.env on a
// local target: the loopback address, which a service can bind.
const LocalAddress = "127.0.0.1"

// expandHost replaces {host} in a run.command argument or run.env value
// with the address of the host the release runs on, so that a service can
// bind its own host's address (Fragalysis, tsd-import: services on named
// hosts): the host as the target's hosts list names it, without a port
// (a name or an address, as SSH dials it), or LocalAddress on a local
// target. (A root's {host} names a directory instead: "local" there.)
func expandHost(s, host string) string {
	if !strings.Contains(s, "{host}") {
		return s
	}
	addr := LocalAddress
	if host != "" {
		addr = hostOnly(host)
		if i := strings.LastIndexByte(addr, '@'); i >= 0 {
			addr = addr[i+1:] // user@host
		}
	}
	return strings.ReplaceAll(s, "{host}", addr)
}
