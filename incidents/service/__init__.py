"""Services: the assignment lifecycle, the actions people take (confirm, override, status), users and the audit log."""
