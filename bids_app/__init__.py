"""The BIDS-App command line, BIDS queries, derivatives and reports."""
