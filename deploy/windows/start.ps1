# Turns on WinRM over HTTPS for the relay, then keeps the container running (or runs -Then).
#
# Docker secrets (Windows mounts them under C:\ProgramData\Docker\secrets):
#   winrm_password          the local account's password                        (required)
#   winrm_cert.pfx          a certificate shared by every replica, so one pin fits them all
#   winrm_cert_password     the PFX's password                                   (with the PFX)
# Environment: WINRM_USER (default winrelay), WINRM_MAX_SHELLS (30),
#   WINRM_MAX_ENVELOPE_KB (512), WINRM_IDLE_TIMEOUT_MS (7200000).
#
# Checked against Microsoft's documentation (learn.microsoft.com, windows/win32/winrm):
# "Installation and configuration for Windows Remote Management" (no listener exists by
# default; the firewall blocks the ports) and "Quotas" (IdleTimeout in ms, minimum 1000;
# MaxShellsPerUser, default 30); MS-WSMV 2.2.4.42 WinrsType. It cannot run on Linux: untested.
param([string]$Then = "")
$ErrorActionPreference = 'Stop'
$secrets = 'C:\ProgramData\Docker\secrets'
$user = if ($env:WINRM_USER) { $env:WINRM_USER } else { 'winrelay' }

# 1. The local account the relay signs in as (Basic authentication needs a local account).
$pwFile = Join-Path $secrets 'winrm_password'
if (-not (Test-Path $pwFile)) { throw "no Docker secret winrm_password: the relay cannot sign in" }
$password = ConvertTo-SecureString (Get-Content -Raw $pwFile).TrimEnd("`r", "`n") -AsPlainText -Force
if (Get-LocalUser -Name $user -ErrorAction SilentlyContinue) {
    Set-LocalUser -Name $user -Password $password
} else {
    New-LocalUser -Name $user -Password $password -PasswordNeverExpires | Out-Null
}
Add-LocalGroupMember -Group Administrators -Member $user -ErrorAction SilentlyContinue

# 2. The certificate: a shared one from a secret, or a self-signed one for this host name.
$pfx = Join-Path $secrets 'winrm_cert.pfx'
if (Test-Path $pfx) {
    $pfxPassword = ConvertTo-SecureString (Get-Content -Raw (Join-Path $secrets 'winrm_cert_password')).TrimEnd("`r", "`n") -AsPlainText -Force
    $cert = Import-PfxCertificate -FilePath $pfx -CertStoreLocation Cert:\LocalMachine\My -Password $pfxPassword
} else {
    $cert = New-SelfSignedCertificate -DnsName $env:COMPUTERNAME -CertStoreLocation Cert:\LocalMachine\My `
        -KeyAlgorithm RSA -KeyLength 2048 -NotAfter (Get-Date).AddYears(5)
}

# 3. WinRM: the service, an HTTPS listener on 5986, Basic over HTTPS only, shell limits.
Set-Service -Name WinRM -StartupType Automatic
Start-Service -Name WinRM
Get-ChildItem WSMan:\localhost\Listener | Where-Object { $_.Keys -contains 'Transport=HTTP' } | Remove-Item -Recurse -Force
Get-ChildItem WSMan:\localhost\Listener | Where-Object { $_.Keys -contains 'Transport=HTTPS' } | Remove-Item -Recurse -Force
New-Item -Path WSMan:\localhost\Listener -Transport HTTPS -Address * -Port 5986 `
    -CertificateThumbPrint $cert.Thumbprint -Force | Out-Null
Set-Item WSMan:\localhost\Service\Auth\Basic -Value $true
Set-Item WSMan:\localhost\Service\AllowUnencrypted -Value $false
$maxShells = if ($env:WINRM_MAX_SHELLS) { $env:WINRM_MAX_SHELLS } else { 30 }
$maxEnvelope = if ($env:WINRM_MAX_ENVELOPE_KB) { $env:WINRM_MAX_ENVELOPE_KB } else { 512 }
$idle = if ($env:WINRM_IDLE_TIMEOUT_MS) { $env:WINRM_IDLE_TIMEOUT_MS } else { 7200000 }
Set-Item WSMan:\localhost\Shell\MaxShellsPerUser -Value $maxShells
Set-Item WSMan:\localhost\MaxEnvelopeSizekb -Value $maxEnvelope
Set-Item WSMan:\localhost\Shell\IdleTimeout -Value $idle
# Local accounts get a full (not filtered) token over the network.
New-ItemProperty -Path HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Policies\System `
    -Name LocalAccountTokenFilterPolicy -Value 1 -PropertyType DWord -Force | Out-Null
if (Get-Command New-NetFirewallRule -ErrorAction SilentlyContinue) {
    New-NetFirewallRule -DisplayName 'WinRM HTTPS (winrelay)' -Direction Inbound -Protocol TCP `
        -LocalPort 5986 -Action Allow -ErrorAction SilentlyContinue | Out-Null
}

# 4. The fingerprint to pin in relay.toml (pin = "...").
$sha256 = [Security.Cryptography.SHA256]::Create().ComputeHash($cert.RawData)
$pin = ($sha256 | ForEach-Object { $_.ToString('x2') }) -join ''
Write-Output "winrelay: WinRM over HTTPS on port 5986 for user $user"
Write-Output "winrelay: certificate SHA-256 $pin"

if ($Then) { & cmd /c $Then; exit $LASTEXITCODE }
while ($true) {
    Start-Sleep -Seconds 60
    if ((Get-Service WinRM).Status -ne 'Running') { Start-Service WinRM }
}
