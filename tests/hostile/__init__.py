"""The hostile-input corpus (issue 14): files, folders, manifests, servers and weights made
by someone else, each case a test that failed before the fix. See docs/security.md."""
