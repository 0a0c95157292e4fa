"""Messages (MIME, headers, DKIM) and the transports that deliver them."""
