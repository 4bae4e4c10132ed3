//go:build amd64 || ppc64 || ppc64le || s390x || mips64 || mips64le

package rpmdir

import "syscall"

const sysFstatat = syscall.SYS_NEWFSTATAT
