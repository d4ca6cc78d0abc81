"""The data lake: every S3 key of raw and curated data, and the scientists' reader of curated data."""
