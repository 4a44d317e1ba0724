// Package apply carries out a judged plan on an environment's targets:
//
//	lock -> resume what an interrupted run left -> for each wave (its actions
//	in parallel, bounded): fetch artifact -> test -> driver.Deploy (health
//	inside) -> verify -> on failure driver.Rollback + notify -> journal
//	-> result -> status record
//
// The lock (lock.go) makes one run at a time change an environment; it lives
// beside the targets (the first host of a host target, or a local state
// directory for other targets) so that two machines applying the same
// environment see each other. The journal (journal.go) is an append-only
// JSON-lines file beside the lock: every action's start and end are synced to
// disk before and after the action, so a run killed half-way is detected by
// the next one, which repairs the unfinished units before going on.
//
// A unit whose deploy or verify failed is rolled back to its previous
// release and its dependents are skipped, while independent units go on. A
// version that failed and was rolled back is remembered in the status record
// and not retried until the desired version changes (or --retry-failed), so
// a scheduled reconcile does not deploy a broken release every hour.
//
// What the package must never do: run an action the plan marks not
// applyable (a policy denied it or a deploy window holds it); pass anything
// from the state repository through a shell (commands are argv lists); write
// a secret into the journal, the result or the status record (none of them
// holds environment variable values, only names, versions and errors); or
// start an action after its run was interrupted.
package apply
