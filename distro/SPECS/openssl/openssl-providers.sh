#!/bin/sh
# Keel health check: what the openssl tool itself reports about its providers
# (keel-init runs it with an empty environment; keel boot grades the output).
exec /usr/bin/openssl list -providers
