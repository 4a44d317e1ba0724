// Package observation holds what gearshift knows of what runs: a unit's
// observation (version, health, the previous release, each host's view)
// and an environment's. It is data only, so that the planner, the policies,
// the status record and the reports can use it without importing a driver.
//
// It must never do I/O: drivers fill these types, everyone else reads them.
package observation
