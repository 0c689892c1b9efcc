"""The command line: one module per command (report.py holds `harness report` and `harness blind`); app.py parses
and maps errors to exit codes."""
