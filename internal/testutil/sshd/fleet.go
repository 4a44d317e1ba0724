package sshd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Fleet is one sshd that answers on one port of many loopback addresses
// (127.0.2.1, 127.0.2.2, ...), so that a benchmark or a test can address
// hundreds of "hosts" by name, each verified by its host key, without
// hundreds of servers. sshd accepts at most 16 ListenAddress lines, so the
// server listens on 0.0.0.0 and lets only loopback clients log in
// (AllowUsers USER@127.0.0.0/8); every address the clients dial is a
// loopback one.
//
// Unlike a Cluster it is configured for a fleet: MaxStartups is raised
// from OpenSSH's 10:30:100, which drops most of a burst of parallel
// handshakes, and the log goes to a file.
type Fleet struct {
	// Addrs are the hosts' addresses, FleetAddr(0) ... FleetAddr(n-1).
	Addrs []string
	Port  int
	// KnownHosts lists [addr]:port with the host key for every address.
	KnownHosts string
	// Identity is the client's private key, authorized for User.
	Identity string
	User     string
	Dir      string
	// Log is sshd's log file.
	Log string

	cmd    *exec.Cmd
	exited chan struct{}
}

// FleetAddr is the address of host i: 250 hosts per /24 from 127.0.2.0,
// so that 1,000 hosts are 127.0.2.1 ... 127.0.5.250.
func FleetAddr(i int) string {
	return fmt.Sprintf("127.0.%d.%d", 2+i/250, 1+i%250)
}

const fleetConfig = `ListenAddress 0.0.0.0
Port %d
HostKey %s
PidFile %s
AuthorizedKeysFile %s
AllowUsers %s@127.0.0.0/8
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
StrictModes no
PermitRootLogin prohibit-password
Subsystem sftp internal-sftp
MaxStartups %d
MaxSessions 16
LogLevel ERROR
%s`

// skipRC keeps bash, the login shell sshd runs every command with, from
// sourcing ~/.bashrc (bash does when SSH_CLIENT is set and SHLVL < 2): a
// developer's rc (pyenv init, ~190 ms a command on the machine this was
// written on, serialised on pyenv's lock) would be measured instead of
// gearshift. A fleet's deploy user has no such rc.
const skipRC = "SetEnv SHLVL=9\n"

// FleetOptions tune a Fleet.
type FleetOptions struct {
	// LoginRC lets the login shell source the user's ~/.bashrc for every
	// command, as it does on the machine (see skipRC).
	LoginRC bool
}

// StartFleet starts one sshd for n hosts under dir (which it fills with
// keys, config and log). Close stops it.
func StartFleet(dir string, n int, o FleetOptions) (*Fleet, error) {
	if _, err := os.Stat(Binary); err != nil {
		return nil, fmt.Errorf("%s not found: install openssh-server (apt-get install -y openssh-server)", Binary)
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, fmt.Errorf("sshd needs its privilege separation directory: %w", err)
	}
	user, err := userName()
	if err != nil {
		return nil, err
	}
	f := &Fleet{Dir: dir, User: user, Log: filepath.Join(dir, "sshd.log")}
	var clientPub, hostKey, hostPub string
	if f.Identity, clientPub, err = keyGen(dir, "client"); err != nil {
		return nil, err
	}
	if hostKey, hostPub, err = keyGen(dir, "host_ed25519"); err != nil {
		return nil, err
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, []byte(clientPub+"\n"), 0o600); err != nil {
		return nil, err
	}
	var lastErr error
	for range 5 {
		port, err := freeAnyPort()
		if err != nil {
			return nil, err
		}
		f.Port = port
		if lastErr = f.run(hostKey, authorized, n, o); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		return nil, lastErr
	}
	var known strings.Builder
	for i := range n {
		a := FleetAddr(i)
		f.Addrs = append(f.Addrs, a)
		fmt.Fprintf(&known, "[%s]:%d %s\n", a, f.Port, keyOnly(hostPub))
	}
	f.KnownHosts = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(f.KnownHosts, []byte(known.String()), 0o600); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (f *Fleet) run(hostKey, authorized string, n int, o FleetOptions) error {
	config := filepath.Join(f.Dir, "sshd_config")
	extra := skipRC
	if o.LoginRC {
		extra = ""
	}
	text := fmt.Sprintf(fleetConfig, f.Port, hostKey, filepath.Join(f.Dir, "sshd.pid"), authorized, f.User, max(n, 100), extra)
	if err := os.WriteFile(config, []byte(text), 0o600); err != nil {
		return err
	}
	f.cmd = exec.Command(Binary, "-D", "-f", config, "-E", f.Log)
	if err := f.cmd.Start(); err != nil {
		return err
	}
	f.exited = make(chan struct{})
	go func() { _ = f.cmd.Wait(); close(f.exited) }()
	addr := net.JoinHostPort(FleetAddr(0), strconv.Itoa(f.Port))
	deadline := time.Now().Add(10 * time.Second)
	for !greets(addr) {
		select {
		case <-f.exited:
			log, _ := os.ReadFile(f.Log)
			return fmt.Errorf("sshd on port %d exited: %s", f.Port, log)
		default:
		}
		if time.Now().After(deadline) {
			f.Close()
			return fmt.Errorf("sshd on port %d did not answer within 10s", f.Port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// CPU is the CPU time the server and the sessions it has reaped have
// used (utime, stime, cutime and cstime of /proc/<pid>/stat): the hosts'
// side of what a client did, once its connections are closed.
func (f *Fleet) CPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(f.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat %q", s)
	}
	fields := strings.Fields(s[i+1:]) // from field 3, state
	if len(fields) < 15 {
		return 0, fmt.Errorf("unexpected /proc stat %q", s)
	}
	var ticks int64
	for _, v := range fields[11:15] { // fields 14-17
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil // USER_HZ 100
}

// Close stops the server (the sessions it forked end with their clients).
func (f *Fleet) Close() {
	if f.cmd == nil || f.cmd.Process == nil {
		return
	}
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.exited:
	case <-time.After(5 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.exited
	}
}

// freeAnyPort is a port free on every address.
func freeAnyPort() (int, error) {
	l, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func keyGen(dir, name string) (private, public string, err error) {
	private = filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", private).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("ssh-keygen: %w: %s", err, out)
	}
	pub, err := os.ReadFile(private + ".pub")
	if err != nil {
		return "", "", err
	}
	return private, strings.TrimSpace(string(pub)), nil
}

func userName() (string, error) {
	if u := os.Getenv("USER"); u != "" {
		return u, nil
	}
	out, err := exec.Command("id", "-un").Output()
	if err != nil {
		return "", fmt.Errorf("id -un: %w", err)
	}
	if u := strings.TrimSpace(string(out)); u != "" {
		return u, nil
	}
	return "", errors.New("id -un printed nothing")
}
