# Healthy when the HTTPS listener exists and port 5986 accepts connections.
$ErrorActionPreference = 'Stop'
try {
    $https = Get-ChildItem WSMan:\localhost\Listener | Where-Object { $_.Keys -contains 'Transport=HTTPS' }
    if (-not $https) { Write-Output 'no HTTPS listener'; exit 1 }
    $tcp = New-Object Net.Sockets.TcpClient
    $tcp.Connect('127.0.0.1', 5986)
    $tcp.Close()
    exit 0
} catch {
    Write-Output $_.Exception.Message
    exit 1
}
