// Package e2e holds end-to-end tests of sessionq as its users run it: the
// real sessionq binary as separate worker, scheduler and submit processes,
// a real redis-server, and kill -9 where the claim is about crashes. It has
// no code of its own outside its tests.
package e2e
