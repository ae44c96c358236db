"""Cash wallet: withdrawal requests approved by finance, payable report."""
