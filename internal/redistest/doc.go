// Package redistest is the one Redis harness that all sessionq tests use.
//
// A test binary gets one shared Redis server from [Start] (or implicitly from
// [Client]); it is found or started once per process, in this order:
//
//  1. the server named by the environment variable SESSIONQ_TEST_REDIS_URL
//     ([EnvRedisURL]), a redis:// URL; nothing is started;
//  2. a Redis container started with testcontainers-go, when a Docker engine
//     answers a health check within a few seconds;
//  3. a redis-server binary found on PATH, run on a free port of 127.0.0.1
//     with its own temporary directory and no persistence.
//
// When none of these works, tests that need Redis are skipped, or fail when
// the environment variable CI ([EnvCI]) is non-empty.
//
// [Client] hands each test a client on a Redis database of its own, flushed at
// start and closed when the test ends, together with the redis:// URL of that
// database for subprocesses and for asynq. [Spawn] starts a separate
// redis-server process that a test may stop, kill and restart (or a replica
// of another, with SpawnOptions.ReplicaOf). [Cluster] starts a Redis Cluster,
// and [Sentinel] a primary, a replica and three sentinels that a test may
// fail over.
//
// Use [Main] in TestMain so that the shared server is stopped at the end and
// leaked goroutines are reported:
//
//	func TestMain(m *testing.M) { redistest.Main(m) }
package redistest
