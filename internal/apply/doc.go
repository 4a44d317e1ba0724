// Package apply reconciles environments: it carries out a judged plan on
// their targets, and rolls units back, under each environment's lock.
//
// Reconcile (reconcile.go) is one apply. For each environment an outer
// function always records the result and the status record, whatever
// happens to the next environment, and an inner one reads top to bottom:
//
//	check the ref -> lock -> journal (unfinished actions, failed versions)
//	-> sweep what an interrupted run left -> observe once -> repair the
//	units an interrupted run left broken -> plan.Compute (interrupted
//	units get a redeploy, reason interrupted) -> policy.Judge -> execute
//	exactly the judged plan: per wave (its actions in parallel, bounded)
//	fetch artifact -> test -> driver.Deploy (health inside) -> verify ->
//	on failure driver.Rollback + notify -> journal -> status record (the
//	one observation, with the units changed read again)
//
// Rollback (rollback.go) is the rollback command, with the same lock and
// journal protocol; it refuses a rollback that would change nothing.
//
// The lock (lock.go) makes one run at a time change an environment; it
// lives beside the targets (the first host of a host target, or a local
// state directory for other targets) so that two machines applying the
// same environment see each other. The journal (journal.go) is an
// append-only JSON-lines file beside the lock: every action's start and
// end are synced to disk before and after the action, so a run killed
// half-way is detected by the next one, which repairs the unfinished units
// before planning.
//
// A unit whose deploy or verify failed is rolled back to its previous
// release (a failed first deploy is taken away) and its dependents are
// skipped, while independent units go on. The journal is also the one
// memory of the versions that failed: every failed version of a unit is
// kept until a deploy of it or of a later version succeeds, and is not
// retried until then (or --retry-failed), so a scheduled reconcile does
// not deploy a broken release every hour; a run that holds a unit back
// for it fails, saying how to retry.
//
// What the package must never do: add, remove or edit an action after
// policy.Judge (an action it does not run is skipped, with why); run an
// action the plan marks not applyable (a policy denied it or a deploy
// window holds it); pass anything from the state repository through a
// shell (commands are argv lists); write a secret into the journal, the
// result or the status record (none of them holds environment variable
// values, only names, versions and errors); or start an action after its
// run was interrupted.
package apply
