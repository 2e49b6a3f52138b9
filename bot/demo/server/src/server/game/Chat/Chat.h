#ifndef TRINITY_CHAT_H
#define TRINITY_CHAT_H

#include <functional>
#include <string>
#include <utility>

class Player;
class WorldSession;

// Parses and runs chat/console commands. Output goes through SendSysMessage.
class ChatHandler
{
public:
    explicit ChatHandler(WorldSession* session) : m_session(session) { }
    virtual ~ChatHandler() = default;

    // Runs one command line (a leading '.' or '!' is optional). False if it is unknown or failed;
    // the reason has then been sent through SendSysMessage.
    bool ParseCommands(std::string const& text);

    virtual void SendSysMessage(std::string const& text);
    virtual std::string GetNameLink() const;

    WorldSession* GetSession() const { return m_session; }
    bool HasSentErrorMessage() const { return m_sentErrorMessage; }
    void SetSentErrorMessage(bool sent) { m_sentErrorMessage = sent; }

    // Chat/Chat.cpp
    bool HandleHelpCommand(std::string const& args);
    // Handlers/ChatHandler.cpp
    bool HandleWhisperCommand(std::string const& args);
    bool HandleAnnounceCommand(std::string const& args);
    // scripts/Commands/cs_server.cpp
    bool HandleServerInfoCommand(std::string const& args);
    bool HandleServerShutdownCommand(std::string const& args);
    bool HandleServerRestartCommand(std::string const& args);
    bool HandleServerShutdownCancelCommand(std::string const& args);
    bool HandleServerExitCommand(std::string const& args);

protected:
    void SendWhisper(Player* target, std::string const& text);

private:
    WorldSession* m_session;
    bool m_sentErrorMessage = false;
};

// The console's handler (also used for SOAP and RA): prints through a callback.
class CliHandler : public ChatHandler
{
public:
    typedef std::function<void(std::string const&)> Print;

    explicit CliHandler(Print print) : ChatHandler(nullptr), m_print(std::move(print)) { }

    void SendSysMessage(std::string const& text) override;
    std::string GetNameLink() const override { return "Console"; }

private:
    Print m_print;
};

#endif
