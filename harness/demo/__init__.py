"""`harness demo`: the world, pre-training, and the script that calls the same run/report/gate functions."""
