package transport

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHConfig says how to reach one host.
type SSHConfig struct {
	Host string
	// Port defaults to 22.
	Port int
	// User defaults to the current user.
	User string
	// KnownHosts is the known_hosts file the host key is checked against;
	// empty means ~/.ssh/known_hosts. There is no way to skip the check.
	KnownHosts string
	// Identity is a private key file; empty -> SSH agent via SSH_AUTH_SOCK.
	// A passphrase-protected key must be loaded into the agent instead.
	Identity string
	// Timeout bounds connecting (TCP, handshake, authentication, SFTP
	// start) and is how long a keepalive may go unanswered before the
	// connection is declared dead; default 15s.
	Timeout time.Duration
}

const (
	defaultSSHTimeout = 15 * time.Second
	keepaliveInterval = 30 * time.Second
	// maxSessions stays under OpenSSH's default MaxSessions (10) per
	// connection, leaving room for the SFTP session and a kill session.
	maxSessions = 8
)

type sshTransport struct {
	host  string // user@host:port
	c     *ssh.Client
	fs    *sftp.Client
	agent net.Conn // nil unless authenticating through the agent
	sem   chan struct{}
	done  chan struct{}
	once  sync.Once
}

// DialSSH connects to c.Host, verifies its host key against c.KnownHosts,
// authenticates with c.Identity or the agent, and starts SFTP (the server
// must offer the sftp subsystem). The returned Transport keeps the
// connection for all its operations until Close; once the connection is
// lost every call fails and the caller dials again.
func DialSSH(ctx context.Context, c SSHConfig) (Transport, error) {
	if c.Host == "" {
		return nil, errors.New("ssh: no host")
	}
	if c.Port == 0 {
		c.Port = 22
	}
	if c.Timeout <= 0 {
		c.Timeout = defaultSSHTimeout
	}
	if c.User == "" {
		u, err := user.Current()
		if err != nil {
			return nil, fmt.Errorf("ssh: no user given: %w", err)
		}
		c.User = u.Username
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	name := c.User + "@" + addr
	fail := func(err error) (Transport, error) { return nil, fmt.Errorf("ssh %s: %w", name, err) }

	if c.KnownHosts == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fail(fmt.Errorf("no known_hosts file given: %w", err))
		}
		c.KnownHosts = filepath.Join(home, ".ssh", "known_hosts")
	}
	hostKeys, algos, err := hostKeyCallback(c.KnownHosts, addr)
	if err != nil {
		return fail(err)
	}
	auth, agentConn, err := authMethod(c.Identity)
	if err != nil {
		return fail(err)
	}
	closeAgent := func() {
		if agentConn != nil {
			agentConn.Close()
		}
	}

	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		closeAgent()
		return fail(err)
	}
	// The handshake and the SFTP start have no context of their own: a
	// deadline on the socket and closing it on cancellation bound them.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	cc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User:              c.User,
		Auth:              []ssh.AuthMethod{auth},
		HostKeyCallback:   hostKeys,
		HostKeyAlgorithms: algos,
		Timeout:           c.Timeout,
	})
	if err != nil {
		stop()
		conn.Close()
		closeAgent()
		var ne net.Error
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			return fail(fmt.Errorf("no SSH handshake within %s: %w", c.Timeout, err))
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return fail(fmt.Errorf("authenticate as %s with %s: %w", c.User, authName(c.Identity), err))
		}
		return fail(err)
	}
	client := ssh.NewClient(cc, chans, reqs)
	fsc, err := sftp.NewClient(client, sftp.UseConcurrentWrites(true))
	if !stop() || err != nil {
		client.Close()
		closeAgent()
		if err == nil {
			err = ctx.Err()
		}
		return fail(fmt.Errorf("start sftp: %w", err))
	}
	_ = conn.SetDeadline(time.Time{})
	t := &sshTransport{
		host:  name,
		c:     client,
		fs:    fsc,
		agent: agentConn,
		sem:   make(chan struct{}, maxSessions),
		done:  make(chan struct{}),
	}
	go t.keepalive(c.Timeout)
	return t, nil
}

// hostKeyCallback reads the known_hosts file and wraps its check so that a
// refusal says what happened and where the keys came from. It also returns
// the host key algorithms to ask the server for: only those of the keys
// known for addr, or the server may present a key of another type and be
// refused although a good key is on file.
func hostKeyCallback(file, addr string) (ssh.HostKeyCallback, []string, error) {
	cb, err := knownHostsDB(file)
	if err != nil {
		return nil, nil, fmt.Errorf("read known_hosts file: %w", err)
	}
	check := func(host string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(host, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ke) && len(ke.Want) == 0:
			return fmt.Errorf("host %s is unknown: its %s key %s is not in known_hosts file %s; refusing to connect",
				knownhosts.Normalize(host), key.Type(), ssh.FingerprintSHA256(key), file)
		case errors.As(err, &ke):
			return fmt.Errorf("host key mismatch for %s: the server presented %s key %s, which does not match known_hosts file %s (line %d); refusing to connect",
				knownhosts.Normalize(host), key.Type(), ssh.FingerprintSHA256(key), ke.Want[0].Filename, ke.Want[0].Line)
		case errors.As(err, &re):
			return fmt.Errorf("host key %s of %s is revoked in %s:%d; refusing to connect",
				ssh.FingerprintSHA256(key), knownhosts.Normalize(host), re.Revoked.Filename, re.Revoked.Line)
		default:
			return fmt.Errorf("check host key of %s against %s: %w", knownhosts.Normalize(host), file, err)
		}
	}
	// Ask the database with a key it cannot hold: the KeyError lists the
	// keys it has for addr.
	probe, err := probeKey()
	if err != nil {
		return nil, nil, err
	}
	var algos []string
	var ke *knownhosts.KeyError
	if errors.As(cb(addr, &net.TCPAddr{}, probe), &ke) {
		seen := map[string]bool{}
		for _, k := range ke.Want {
			for _, a := range algorithmsFor(k.Key.Type()) {
				if !seen[a] {
					seen[a] = true
					algos = append(algos, a)
				}
			}
		}
	}
	return check, algos, nil // nil algos (unknown host): the check refuses
}

// probeKey is a key no known_hosts file holds, made once.
var probeKey = sync.OnceValues(func() (ssh.PublicKey, error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(pub)
})

// knownHosts caches parsed known_hosts files: a fleet's file lists every
// host, and parsing it again for each of a thousand dials made dialling
// the fleet quadratic. An entry is used while the file keeps its inode,
// size and modification time (a rewrite, atomic or in place, changes one
// of them; a file changed in the last two seconds is not cached, since file
// times are coarse), so a key added or revoked takes effect at the next
// dial.
var knownHosts struct {
	mu sync.Mutex
	m  map[string]knownHostsEntry
}

type knownHostsEntry struct {
	ino, size int64
	mod       time.Time
	cb        ssh.HostKeyCallback
}

func knownHostsDB(file string) (ssh.HostKeyCallback, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return knownhosts.New(file) // its error names the file
	}
	e := knownHostsEntry{size: fi.Size(), mod: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.ino = int64(st.Ino)
	}
	knownHosts.mu.Lock()
	defer knownHosts.mu.Unlock()
	if c, ok := knownHosts.m[file]; ok && c.ino == e.ino && c.size == e.size && c.mod.Equal(e.mod) {
		return c.cb, nil
	}
	if e.cb, err = knownhosts.New(file); err != nil {
		return nil, err
	}
	if time.Since(e.mod) < 2*time.Second {
		// File times are coarse (a few ms): a rewrite within the same
		// tick, of the same size, would look unchanged. A file that
		// recent is parsed again next time.
		return e.cb, nil
	}
	if knownHosts.m == nil {
		knownHosts.m = map[string]knownHostsEntry{}
	}
	knownHosts.m[file] = e
	return e.cb, nil
}

func algorithmsFor(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

func authName(identity string) string {
	if identity == "" {
		return "the keys of the SSH agent"
	}
	return "identity " + identity
}

// authMethod uses the key file when one is given, the agent otherwise.
func authMethod(identity string) (ssh.AuthMethod, net.Conn, error) {
	if identity != "" {
		pem, err := os.ReadFile(identity)
		if err != nil {
			return nil, nil, fmt.Errorf("read identity: %w", err)
		}
		signer, err := ssh.ParsePrivateKey(pem)
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, nil, fmt.Errorf("identity %s is passphrase-protected: load it into ssh-agent and leave the identity empty", identity)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("parse identity %s: %w", identity, err)
		}
		return ssh.PublicKeys(signer), nil, nil
	}
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil, errors.New("no identity file given and SSH_AUTH_SOCK is not set")
	}
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to ssh agent: %w", err)
	}
	return ssh.PublicKeysCallback(agent.NewClient(conn).Signers), conn, nil
}

// keepalive notices a dead connection (host gone, network cut) and closes
// it, so that pending and later operations fail instead of hanging.
func (t *sshTransport) keepalive(timeout time.Duration) {
	tick := time.NewTicker(keepaliveInterval)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
		}
		reply := make(chan error, 1)
		go func() {
			_, _, err := t.c.SendRequest("keepalive@openssh.com", true, nil)
			reply <- err
		}()
		select {
		case <-t.done:
			return
		case err := <-reply:
			if err == nil {
				continue
			}
		case <-time.After(timeout):
		}
		t.c.Close()
		return
	}
}

func (t *sshTransport) Host() string { return t.host }

func (t *sshTransport) Close() error {
	var err error
	t.once.Do(func() {
		close(t.done)
		t.fs.Close()
		err = t.c.Close()
		if t.agent != nil {
			t.agent.Close()
		}
	})
	return err
}

// session opens a session, waiting for a free slot under maxSessions.
func (t *sshTransport) session(ctx context.Context) (*ssh.Session, func(), error) {
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	s, err := t.c.NewSession()
	if err != nil {
		<-t.sem
		return nil, nil, err
	}
	return s, func() { s.Close(); <-t.sem }, nil
}

// wrap puts the host and the path in an SFTP error, which carries neither,
// keeping fs.ErrNotExist and friends visible to errors.Is.
func (t *sshTransport) wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", t.host, &os.PathError{Op: op, Path: path, Err: err})
}
