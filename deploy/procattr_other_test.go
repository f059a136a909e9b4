//go:build !linux

package deploy

import "os/exec"

func setProcAttr(*exec.Cmd) {}
