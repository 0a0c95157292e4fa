"""What a briefing achieved: tracked links and clicks, opens, bounce collection, reports."""
