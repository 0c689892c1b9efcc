"""`harness gate`: rules, one checker per rule kind, output."""
