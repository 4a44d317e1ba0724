// Package rebuild carries out a bump.Rebuild: the update of a framework in
// a unit's own source repository (antikythera: in dev, the auto-deploy
// component updates the antikythera dependency of a gear and pushes to
// master, so that the gear is rebuilt). It makes a fresh clone of the
// branch the environment deploys from, runs the unit's declared update
// command there (an argv, through internal/proc: the minimal environment,
// no shell), commits what the command changed, and either pushes the
// commit to that branch (never forced) or pushes a work branch and opens
// or updates a pull request against it through internal/forge.
//
// What the package must never do: run a command through a shell or with
// gearshift's environment or a token; send the git token to a host the
// token is not meant for (a repository URL comes from the state, which is
// untrusted: the token goes only to gitops.Auth's hosts); force-push the
// branch an environment deploys from; print a credential.
package rebuild
