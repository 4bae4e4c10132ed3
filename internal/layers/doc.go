// Package layers holds the test that keeps Keel's layer rule: formats never
// import pipelines, pipelines never import the CLI. The lists of which
// package is which are in docs/architecture.md.
package layers
