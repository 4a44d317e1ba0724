// Package proc starts every process gearshift runs on this machine: the
// state's commands (exec-driver status and deploy, test, verify, notify,
// health, proxy test and reload, a service's start and stop) and the host
// driver's own helpers (kill, systemctl, tail). It owns two things:
//
//   - the environment a command gets (Environ): a minimal one built from
//     scratch, never gearshift's own (docs/exec-driver.md, "Environment");
//   - running an argv (Run, StartDetached): no shell, a timeout that kills
//     the command's whole process group, output captured up to a cap.
//
// Over SSH the remote login shell starts the command; the SSH transport
// asks Inherited which names the remote command keeps from its login and
// starts it under env -i, so the same contract holds on every host.
//
// What the package must never do:
//
//   - Pass gearshift's own environment on. A command gets PATH, HOME, LANG,
//     LC_* (the POSIX and glibc categories) and TZ from it, the names an
//     operator lists in GEARSHIFT_PASS_ENV, and the variables its caller
//     gives (what the state declares and the GEARSHIFT_* variables gearshift
//     documents), and nothing else (over SSH the starting shell adds PWD).
//   - Pass a token: GEARSHIFT_PASS_ENV naming GITHUB_TOKEN, GH_TOKEN, the
//     Actions runtime tokens or any GEARSHIFT_ variable (GEARSHIFT_GIT_TOKEN,
//     GEARSHIFT_WEBHOOK_SECRET, ...) is an error, and no command runs.
//   - Give anything to a shell. argv[0] is looked up on PATH and executed
//     with argv as it is.
//   - Wait without bound. Every Run has a timeout (DefaultTimeout when the
//     caller gives none); on timeout the process group is killed.
package proc
