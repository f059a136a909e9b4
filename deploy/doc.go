// Package deploy holds the checks of sessionq's deployment files: the Helm
// chart in helm/sessionq (linted and rendered with Helm's Go packages) and
// the repository's docker-compose.yml (loaded with compose-go, and its
// commands run as local processes against a redis-server).
//
// It is a Go module of its own, so that Helm's and compose-go's dependency
// trees never reach a program that imports sessionq. Its tests are the
// package; it exports nothing.
package deploy
