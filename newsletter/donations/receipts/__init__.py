"""Thank-you receipts, from what one says to the mail that carries it.

- ``content``: what a receipt states (``Receipt``, composed once per gift);
- ``delivery``: claiming, sending and marking each receipt exactly once;
- ``background``: sending claimed receipts after the webhook has answered;
- ``helper_process``: rendering and mailing them in a process beside the web one;
- ``mail``: the receipt and manage-link emails themselves (templates, MIME, transport).
"""
