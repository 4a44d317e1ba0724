// Package transport is how the host driver reaches a host: this machine
// (Local) or another one over SSH (DialSSH). Both implement one Transport
// interface, so the driver's release logic (make a release directory, copy
// files, switch the "current" symlink, start and stop processes) is written
// once and tested against both.
//
// What the package must never do:
//
//   - Run a local command through a shell. Local commands are argv lists
//     given to proc (the one runner of local processes); nothing from the
//     state repo is ever parsed by sh.
//   - Give a command more than the minimal environment (proc.Environ).
//     Locally proc builds it; over SSH the prelude ends in env -i, keeping
//     only proc.Inherited names from the login and the given variables, so
//     nothing sshd's session holds (SSH_CONNECTION, AcceptEnv'd, SetEnv or
//     PAM variables) reaches the command, and no value of gearshift's own
//     environment is sent to the host.
//   - Build a remote command line by pasting raw values into shell text.
//     Over SSH the remote side always runs the login shell (assumed POSIX),
//     so every value is a word quoted with Quote (POSIX single quoting,
//     tested by round trip through real shells): Run sends a fixed prelude
//     (cd, command -v, exec env -i with NAME=value words whose NAME is
//     checked to be an identifier) around quoted words, and the StartDetached launcher is a fixed script
//     that receives every user value as a quoted positional argument.
//   - Connect to a host whose key it cannot verify. Host keys are checked
//     against a known_hosts file every time; an unknown host or a changed
//     key is refused with an error naming the file. There is no option to
//     skip the check.
//
// Paths are used as given. Relative paths are relative to the working
// directory of gearshift for Local and to the login directory over SSH;
// the host driver passes absolute paths.
//
// Over SSH one connection per host carries every operation: file operations
// go through SFTP on that connection (with the OpenSSH extensions
// posix-rename@openssh.com and fsync@openssh.com for atomic replacement),
// commands through sessions on it. A Transport is safe for concurrent use.
package transport
