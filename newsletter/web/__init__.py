"""The web app: public pages for readers, the Stripe webhook, one router per audience."""
