// Package floors holds a test of the module's layout: the packages under
// internal/ are the floors the library stands on, and none of them imports
// a package above it (a package at the module's root, cmd/ or tools/).
package floors
