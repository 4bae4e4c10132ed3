//go:build arm64 || riscv64 || loong64

package rpmdir

import "syscall"

const sysFstatat = syscall.SYS_FSTATAT
