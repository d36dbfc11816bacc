"""Outbound follow-up calls: IVR flows, webhooks, telephony, queue and reports."""
