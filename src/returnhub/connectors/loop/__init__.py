"""Loop Returns (https://docs.loopreturns.com): see ../shared/reference/loop-returns.md."""
