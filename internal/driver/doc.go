// Package driver defines what gearshift asks of a target: observe what runs
// (Observer), and, in the apply issue, deploy and roll back. The drivers
// live in host/, exec/ and kubernetes/.
//
// ObserveEnvironment observes many units concurrently with a bound and a
// per-unit timeout; one unit's failure never hides the others. Drivers never
// use a shell for commands from the state repository and never print
// secrets.
package driver
