-- wrk: send every request as a POST (document 000's POST /api/profile/).
wrk.method = "POST"
