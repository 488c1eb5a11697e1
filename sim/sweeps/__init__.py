"""Sweeps: experiment files, designs, the ledger, and running thousands of runs locally or on Dask."""
